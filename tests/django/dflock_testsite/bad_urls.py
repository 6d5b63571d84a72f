"""A URLconf whose locked views do not capture the names their keys need (dflock.E004)."""

from django.urls import include, path

from dflock_testsite import views

inner = [path("<int:pk>/", views.invoice)]  # captured through include(): fine

urlpatterns = [
    path("invoice/<int:number>/", views.invoice),  # key needs {pk}
    path("cbv/<int:number>/", views.InvoiceView.as_view()),  # key needs {pk}
    path("given/", views.invoice, kwargs={"pk": 1}),  # given as a default: fine
    path("nested/", include(inner)),
]
