from rest_framework.routers import DefaultRouter

from .activities import ActivityViewSet, TimelineViewSet
from .views import CompanyViewSet, ContactViewSet, CustomFieldViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("contacts", ContactViewSet, basename="contact")
router.register("companies", CompanyViewSet, basename="company")
router.register("custom-fields", CustomFieldViewSet, basename="custom-field")
router.register("activities", ActivityViewSet, basename="activity")
router.register("timeline", TimelineViewSet, basename="timeline")

urlpatterns = router.urls
