from django.contrib import admin
from django.urls import path

from dflock_testsite import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("unguarded/<str:name>/", views.unguarded),
    path("guarded/<str:name>/", views.guarded),
    path("aguarded/<str:name>/", views.aguarded),
    path("pooled/<str:name>/", views.pooled),
    path("apooled/<str:name>/", views.apooled),
    path("invoice/<int:pk>/", views.invoice),
    path("ainvoice/<int:pk>/", views.ainvoice),
    path("invoice-fails/<int:pk>/", views.invoice_fails),
    path("report/", views.report),
    path("areport/", views.areport),
    path("cbv/invoice/<int:pk>/", views.InvoiceView.as_view()),
    path("cbv/ainvoice/<int:pk>/", views.AsyncInvoiceView.as_view()),
    path("cbv/receipt/<int:pk>/", views.ReceiptView.as_view()),
    path("cbv/report/", views.ReportView.as_view()),
    path("mw/orders/<str:order_id>/", views.mw_order),
    path("mw/aorders/<str:order_id>/", views.amw_order),
    path("mw/reports/<str:name>/", views.mw_report),
    path("lease/<int:n>/", views.lease_lost),
    path("page/<str:name>/", views.page),
    path("apage/<str:name>/", views.apage),
    path("quota/<str:name>/", views.quota),
    path("aquota/<str:name>/", views.aquota),
    path("cbv/page/<str:name>/", views.PageView.as_view()),
    path("cbv/quota/<str:name>/", views.QuotaView.as_view()),
    path("mw/pages/<str:name>/", views.mw_page),
    path("mw/quota/<str:name>/", views.mw_quota),
]
