from django.urls import path

from . import views
from .views import activities, leads, lists, search
from .views import dashboard as dashboard_views
from .views import deals as deal_views
from .views import imports as import_views
from .views import line_items as line_item_views
from .views import merge as merge_views
from .views import pipelines as pipeline_views
from .views import products as product_views
from .views import scoring as scoring_views
from .views import tags as tag_views
from .views import trash as trash_views

app_name = "crm"

urlpatterns = [
    path("", dashboard_views.dashboard_page, name="dashboard"),
    path("search/", search.search_page, name="search"),
    path("trash/", trash_views.trash_page, name="trash"),
    path("trash/<str:kind>/<int:pk>/restore/", trash_views.trash_restore, name="trash_restore"),
    path("trash/<str:kind>/<int:pk>/delete/", trash_views.trash_purge_page, name="trash_purge"),
    path("merge/<str:kind>/<int:pk>/", merge_views.merge_pick, name="merge_pick"),
    path(
        "merge/<str:kind>/<int:pk>/<int:other_pk>/",
        merge_views.merge_compare,
        name="merge_compare",
    ),
    path("lists/<str:records>/columns/", lists.list_columns, name="list_columns"),
    path("lists/<str:records>/views/", lists.list_view_save, name="list_view_save"),
    path("lists/views/<int:pk>/delete/", lists.list_view_delete, name="list_view_delete"),
    path("lists/<str:records>/bulk/", lists.list_bulk, name="list_bulk"),
    path("contacts/", views.contact_list, name="contact_list"),
    path("contacts/new/", views.contact_edit, name="contact_create"),
    path("contacts/import/", import_views.contact_import, name="contact_import"),
    path("contacts/export/", views.contact_export, name="contact_export"),
    path("contacts/<int:pk>/", views.contact_detail, name="contact_detail"),
    path("contacts/<int:pk>/edit/", views.contact_edit, name="contact_edit"),
    path("contacts/<int:pk>/delete/", views.contact_delete, name="contact_delete"),
    path("companies/", views.company_list, name="company_list"),
    path("companies/new/", views.company_edit, name="company_create"),
    path("companies/<int:pk>/", views.company_detail, name="company_detail"),
    path("companies/<int:pk>/edit/", views.company_edit, name="company_edit"),
    path("companies/<int:pk>/delete/", views.company_delete, name="company_delete"),
    path("leads/", leads.lead_list_page, name="lead_list"),
    path("leads/new/", leads.lead_edit, name="lead_create"),
    path("leads/import/", import_views.lead_import, name="lead_import"),
    path("leads/<int:pk>/", leads.lead_detail, name="lead_detail"),
    path("leads/<int:pk>/edit/", leads.lead_edit, name="lead_edit"),
    path("leads/<int:pk>/status/", leads.lead_status, name="lead_status"),
    path("leads/<int:pk>/owner/", leads.lead_owner, name="lead_owner"),
    path("leads/<int:pk>/convert/", leads.lead_convert_page, name="lead_convert"),
    path("leads/<int:pk>/delete/", leads.lead_delete_page, name="lead_delete"),
    path("tasks/", activities.my_tasks, name="my_tasks"),
    path("tasks/<int:pk>/done/", activities.task_done, name="task_done"),
    path("activities/form/", activities.activity_form, name="activity_form"),
    path("activities/log/", activities.activity_log, name="activity_log"),
    path("deals/", deal_views.deal_list_page, name="deal_list"),
    path("deals/new/", deal_views.deal_edit, name="deal_create"),
    path("deals/import/", import_views.deal_import, name="deal_import"),
    path("deals/contact-options/", deal_views.deal_contact_options, name="deal_contact_options"),
    path("deals/board/", deal_views.deal_board, name="deal_board"),
    path("deals/board/<int:pipeline_pk>/", deal_views.deal_board, name="deal_board_pipeline"),
    path("deals/<int:pk>/", deal_views.deal_detail, name="deal_detail"),
    path("deals/<int:pk>/edit/", deal_views.deal_edit, name="deal_edit"),
    path("deals/<int:pk>/delete/", deal_views.deal_delete_page, name="deal_delete"),
    path("deals/<int:pk>/move/", deal_views.deal_board_move, name="deal_board_move"),
    path("settings/pipelines/", pipeline_views.pipeline_settings, name="pipeline_settings"),
    path("settings/pipelines/new/", pipeline_views.pipeline_add, name="pipeline_add"),
    path("settings/pipelines/<int:pk>/", pipeline_views.pipeline_change, name="pipeline_change"),
    path("settings/pipelines/<int:pk>/stages/", pipeline_views.stage_add, name="stage_add"),
    path("settings/stages/<int:pk>/", pipeline_views.stage_edit, name="stage_edit"),
    path("settings/stages/<int:pk>/move/", pipeline_views.stage_move, name="stage_move"),
    path("settings/stages/<int:pk>/remove/", pipeline_views.stage_remove, name="stage_remove"),
    path("settings/custom-fields/", views.custom_field_list, name="custom_field_list"),
    path("settings/custom-fields/new/", views.custom_field_edit, name="custom_field_create"),
    path(
        "settings/custom-fields/<int:pk>/edit/", views.custom_field_edit, name="custom_field_edit"
    ),
    path(
        "settings/custom-fields/<int:pk>/delete/",
        views.custom_field_delete,
        name="custom_field_delete",
    ),
    path("products/", product_views.product_list, name="product_list"),
    path("products/new/", product_views.product_edit, name="product_create"),
    path("products/<int:pk>/edit/", product_views.product_edit, name="product_edit"),
    path(
        "products/<int:pk>/deactivate/",
        product_views.product_deactivate_view,
        name="product_deactivate",
    ),
    path("settings/scoring/", scoring_views.scoring_settings, name="scoring_settings"),
    path("settings/scoring/rules/", scoring_views.scoring_rule_add, name="scoring_rule_add"),
    path(
        "settings/scoring/rules/<int:pk>/",
        scoring_views.scoring_rule_edit,
        name="scoring_rule_edit",
    ),
    path(
        "settings/scoring/rules/<int:pk>/delete/",
        scoring_views.scoring_rule_delete_view,
        name="scoring_rule_delete",
    ),
    path("settings/scoring/preview/", scoring_views.scoring_preview_view, name="scoring_preview"),
    path("settings/tags/", tag_views.tag_settings, name="tag_settings"),
    path("settings/tags/<int:pk>/rename/", tag_views.tag_rename_view, name="tag_rename"),
    path("settings/tags/<int:pk>/delete/", tag_views.tag_delete_view, name="tag_delete"),
    path(
        "deals/<int:deal_pk>/line-items/",
        line_item_views.line_items_section,
        name="line_items",
    ),
    path(
        "deals/<int:deal_pk>/line-items/add/",
        line_item_views.line_item_add_view,
        name="line_item_add",
    ),
    path(
        "deals/<int:deal_pk>/line-items/<int:pk>/change/",
        line_item_views.line_item_update_view,
        name="line_item_update",
    ),
    path(
        "deals/<int:deal_pk>/line-items/<int:pk>/remove/",
        line_item_views.line_item_remove_view,
        name="line_item_remove",
    ),
]
