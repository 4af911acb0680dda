FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml ./
COPY . .
RUN pip install --no-cache-dir . && python -c "import arcadia_cloud"
RUN useradd --system --uid 1000 arcadia && mkdir -p /app/var && chown -R arcadia /app/var
USER arcadia
ENV ARCADIA_VAR_DIR=/app/var
RUN ARCADIA_ENV=production SECRET_KEY=collectstatic-only ARCADIA_JWT_SECRET=collectstatic-only python manage.py collectstatic --noinput
EXPOSE 8000
