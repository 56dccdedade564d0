"""Only the webhook routes: these tests do not depend on the rest of the URL map."""

from django.urls import include, path

urlpatterns = [path("", include("postwarden.webhooks.urls"))]
