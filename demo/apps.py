from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The top floor: the demo month (`manage.py demo`) and the standalone emulator
    (`manage.py do_sandbox`), calling every domain app's services the way production does."""

    name = "demo"
    verbose_name = "Demo"
