"""Where an SMS sends its reader: a page of Garde behind the login, named by case number
only (no patient data in a URL)."""

from __future__ import annotations

from dataclasses import dataclass

from garde.domain import Role


@dataclass(frozen=True)
class Links:
    public_url: str  # GARDE_PUBLIC_URL: how the outside world reaches the web app

    def case(self, reader: Role, case_id: int) -> str:
        """The case's page for a site, an expert or a coordinator (their blueprints' paths)."""
        return f"{self.public_url}/{reader}/cases/{case_id}"

    def coverage(self) -> str:
        return f"{self.public_url}/coordinator/coverage"
