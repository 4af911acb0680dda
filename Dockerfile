FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
# WeasyPrint (tax invoice PDFs) renders with Pango.
RUN apt-get update && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml ./
COPY . .
RUN pip install --no-cache-dir . && python -c "import arcadia_cloud"
RUN useradd --system --uid 1000 arcadia && mkdir -p /app/var && chown -R arcadia /app/var
USER arcadia
ENV ARCADIA_VAR_DIR=/app/var
RUN ARCADIA_ENV=production SECRET_KEY=collectstatic-only ARCADIA_JWT_SECRET=collectstatic-only \
    SELLER_LEGAL_NAME=collectstatic-only SELLER_ABN=53004085616 SELLER_ADDRESS=collectstatic-only \
    SELLER_PAYMENT_INSTRUCTIONS=collectstatic-only python manage.py collectstatic --noinput
EXPOSE 8000
