FROM python:3.11-slim

WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .

ENV RECON_DATA_DIR=/data \
    RECON_DEMO=0
VOLUME ["/data"]
EXPOSE 8501 8000

# Seeds the demo month only when RECON_DEMO=1 and the store is empty.
CMD ["sh", "-c", "if [ \"$RECON_DEMO\" = 1 ]; then python -m core demo --if-empty; fi; exec python -m streamlit run Home.py --server.address 0.0.0.0 --server.port 8501"]
