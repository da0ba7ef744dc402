"""Orders from the sites' RIS: HL7 v2 ORM^O01 over MLLP, read into Garde's requests."""
