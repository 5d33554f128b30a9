"""Models: prompt encoding, log-probs, loading user models, building and training the built-in ones."""
