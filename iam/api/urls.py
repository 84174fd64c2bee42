from django.urls import path
from rest_framework.routers import DefaultRouter

from .access import (
    CustomRoleViewSet,
    MemberAccessView,
    PolicyViewSet,
    ShareViewSet,
    TeamViewSet,
    WhyView,
)
from .tokens import ApiTokenViewSet, ServiceTokenViewSet
from .views import InvitationViewSet, MemberReactivateView, MemberViewSet, OrganizationView

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("members", MemberViewSet, basename="member")
router.register("invitations", InvitationViewSet, basename="invitation")
router.register("api-tokens", ApiTokenViewSet, basename="api-token")
router.register("service-tokens", ServiceTokenViewSet, basename="service-token")
router.register("roles", CustomRoleViewSet, basename="role")
router.register("teams", TeamViewSet, basename="team")
router.register("policies", PolicyViewSet, basename="policy")
router.register("shares", ShareViewSet, basename="share")

urlpatterns = [
    *router.urls,
    path("organization/", OrganizationView.as_view(), name="organization"),
    path("members/<int:pk>/access/", MemberAccessView.as_view(), name="member-access"),
    path("members/<int:pk>/reactivate/", MemberReactivateView.as_view(), name="member-reactivate"),
    path("access/why/", WhyView.as_view(), name="access-why"),
]
