"""Stories: near-duplicate signatures of articles (MinHash over word shingles) and the index
that finds an article's story among the recent ones."""
