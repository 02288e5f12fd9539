"""Analysis: names, types, keys and output schemas of queries; expressions typed and compiled to closures."""
