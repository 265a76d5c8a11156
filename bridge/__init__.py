"""Bridge: Nova notifications from RabbitMQ into Kafka."""
