from django.urls import path
from rest_framework.routers import DefaultRouter

from .activities import ActivityViewSet, timeline_view
from .bulk import bulk_view
from .deals import DealViewSet
from .imports import DealImportViewSet, LeadImportViewSet
from .leads import LeadViewSet
from .merge import CompanyMergeViewSet, ContactMergeViewSet
from .pipelines import PipelineViewSet, StageViewSet
from .products import DealLineItemViewSet, ProductViewSet
from .saved_views import SavedViewViewSet
from .scoring import ScoringRuleViewSet
from .search import SearchView
from .tags import TagViewSet
from .trash import RESTORABLE, TrashListView, TrashPurgeView, restore_view
from .views import CompanyViewSet, ContactViewSet, CustomFieldViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("contacts", ContactViewSet, basename="contact")
router.register("companies", CompanyViewSet, basename="company")
router.register("custom-fields", CustomFieldViewSet, basename="custom-field")
router.register("pipelines", PipelineViewSet, basename="pipeline")
router.register("stages", StageViewSet, basename="stage")
router.register("deals", DealViewSet, basename="deal")
router.register("leads", LeadViewSet, basename="lead")
router.register("activities", ActivityViewSet, basename="activity")
router.register("products", ProductViewSet, basename="product")
router.register("tags", TagViewSet, basename="tag")
router.register("saved-views", SavedViewViewSet, basename="saved-view")
router.register("scoring-rules", ScoringRuleViewSet, basename="scoring-rule")
router.register(
    r"deals/(?P<deal_id>[0-9]+)/line-items", DealLineItemViewSet, basename="deal-line-item"
)

# Before the router's, whose detail routes would read `bulk` or `import` as an id.
urlpatterns = [
    path(f"{records}/bulk/", bulk_view(records), name=f"{records}-bulk")
    for records in ("contacts", "companies", "leads", "deals")
]
urlpatterns += [
    path("contacts/merge/", ContactMergeViewSet.as_view({"post": "merge"}), name="contact-merge"),
    path("companies/merge/", CompanyMergeViewSet.as_view({"post": "merge"}), name="company-merge"),
]
urlpatterns += [
    path("leads/import/", LeadImportViewSet.as_view({"post": "create"}), name="lead-import"),
    path("deals/import/", DealImportViewSet.as_view({"post": "create"}), name="deal-import"),
]
urlpatterns += [*router.urls, path("search/", SearchView.as_view(), name="search")]
# The trash: its list, a purge at once, and each record's restore.
urlpatterns += [
    path("trash/", TrashListView.as_view(), name="trash"),
    path("trash/<str:type>/<int:id>/", TrashPurgeView.as_view(), name="trash-purge"),
    *(
        path(f"{plural}/<int:pk>/restore/", restore_view(model, plural), name=f"{plural}-restore")
        for model, plural in RESTORABLE
    ),
]
# A record's timeline: /api/v1/contacts/<id>/timeline/ and so on.
urlpatterns += [
    path(f"{plural}/<int:record_id>/timeline/", timeline_view(kind, plural), name=f"{kind}-tl")
    for kind, plural in (
        ("contact", "contacts"),
        ("company", "companies"),
        ("lead", "leads"),
        ("deal", "deals"),
    )
]
