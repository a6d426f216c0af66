/** The price models of configs/pricing.yaml the UI offers (the API accepts any catalog name). */
export const PRICE_MODELS = ["self-hosted", "datadog", "grafana-cloud", "newrelic"] as const;
