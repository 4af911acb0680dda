"""API routes of the deployments app, mounted under /api/v1/ by arcadia_cloud.urls."""

from django.urls import path

from deployments.api import views

app_name = "deployments"

urlpatterns = [
    path("deployments", views.DeploymentListView.as_view(), name="deployments"),
    path("deployments/<int:pk>", views.DeploymentDetailView.as_view(), name="deployment-detail"),
    path(
        "deployments/<int:pk>/transition",
        views.DeploymentTransitionView.as_view(),
        name="deployment-transition",
    ),
    path(
        "deployments/<int:pk>/subscribe",
        views.DeploymentSubscribeView.as_view(),
        name="deployment-subscribe",
    ),
    path(
        "deployments/<int:pk>/change-plan/cancel",
        views.ScheduledChangeCancelView.as_view(),
        name="deployment-change-plan-cancel",
    ),
    path(
        "deployments/<int:pk>/extend-trial",
        views.ExtendTrialView.as_view(),
        name="deployment-extend-trial",
    ),
    path(
        "deployments/<int:pk>/resources",
        views.DeploymentResourcesView.as_view(),
        name="deployment-resources",
    ),
]
