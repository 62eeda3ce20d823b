"""Free-text fields (notes, reasons) must not become a back door for personal data.

Placement stores no personal data; a note that carries a resident ID, a mobile number or an e-mail address
would put it in the database and in front of employers. The screen is shared with intake (shared.pii); names
cannot be recognised reliably, so the API says so in its docs, and notes are cleared when the worker is erased.
"""

from __future__ import annotations

from shared.pii import personal_data_in

__all__ = ["personal_data_in"]
