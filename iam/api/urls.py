from django.urls import path
from rest_framework.routers import DefaultRouter

from .tokens import ApiTokenViewSet, ServiceTokenViewSet
from .views import InvitationViewSet, MemberViewSet, OrganizationView

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("members", MemberViewSet, basename="member")
router.register("invitations", InvitationViewSet, basename="invitation")
router.register("api-tokens", ApiTokenViewSet, basename="api-token")
router.register("service-tokens", ServiceTokenViewSet, basename="service-token")

urlpatterns = [
    *router.urls,
    path("organization/", OrganizationView.as_view(), name="organization"),
]
