from rest_framework.routers import DefaultRouter

from .views import CompanyViewSet, ContactViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("contacts", ContactViewSet, basename="contact")
router.register("companies", CompanyViewSet, basename="company")

urlpatterns = router.urls
