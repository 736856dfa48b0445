"""advlab: attacks on what people trust in an ML model."""
