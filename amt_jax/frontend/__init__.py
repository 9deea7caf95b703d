"""The frontend: audio loading, constant-Q transforms, feature maps and the frequency layout."""
