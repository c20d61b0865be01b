"""The letter reader: a Vietnamese administrative letter turned into a proposed directive."""
