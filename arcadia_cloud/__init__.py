"""The platform: settings, identity, errors, money and periods, idempotency, schedules, the Celery
app. Importing the package loads nothing else, so its pure modules (`money`, `periods`) serve the
pricing kernel without Django; the Celery app is loaded by the app config (`apps.py`) and by
`celery -A arcadia_cloud`, which finds `arcadia_cloud.celery`."""
