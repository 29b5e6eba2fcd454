from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "reports"

    def ready(self):
        from annotation.services import marks_changed_signal

        from .aggregation import on_marks_changed

        marks_changed_signal.connect(on_marks_changed, dispatch_uid="reports.aggregate_on_marks")
