"""Billing: each read priced by the site's tariff version in force at its priced instant, in
the site's zone (pure functions in `terms`, `calendar` and `pricing`), the lines the workflow
records, monthly invoices with numbers that leave no gap, credit notes and expert statements."""
