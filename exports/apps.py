from django.apps import AppConfig


class DatasetsConfig(AppConfig):
    name = "exports"
    verbose_name = "Datasets"
