"""The original directory's DynamoDB table: its stream as a source, its items as a sink."""
