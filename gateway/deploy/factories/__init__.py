"""One module per artifact kind or mediator family; each registers its factories on import."""
