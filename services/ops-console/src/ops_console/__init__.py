"""The ops console: one web page over Prometheus, the dead-letter topics and the services' APIs."""
