"""The Kafka bus: topic administration, the transactional outbox and its relay, the consumer loop."""
