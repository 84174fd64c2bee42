from django.urls import path
from rest_framework.routers import DefaultRouter

from .activities import ActivityViewSet, TimelineViewSet
from .deals import DealViewSet
from .pipelines import PipelineViewSet, StageViewSet
from .products import DealLineItemViewSet, ProductViewSet
from .search import SearchView
from .tags import TagViewSet
from .leads import LeadViewSet
from .views import CompanyViewSet, ContactViewSet, CustomFieldViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("contacts", ContactViewSet, basename="contact")
router.register("companies", CompanyViewSet, basename="company")
router.register("custom-fields", CustomFieldViewSet, basename="custom-field")
router.register("leads", LeadViewSet, basename="lead")
router.register("pipelines", PipelineViewSet, basename="pipeline")
router.register("stages", StageViewSet, basename="stage")
router.register("deals", DealViewSet, basename="deal")
router.register("activities", ActivityViewSet, basename="activity")
router.register("timeline", TimelineViewSet, basename="timeline")
router.register("products", ProductViewSet, basename="product")
router.register("tags", TagViewSet, basename="tag")
router.register(
    r"deals/(?P<deal_id>[0-9]+)/line-items", DealLineItemViewSet, basename="deal-line-item"
)

urlpatterns = [*router.urls, path("search/", SearchView.as_view(), name="search")]
