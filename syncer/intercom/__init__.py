"""Reading Intercom: the paced, retrying HTTP layer, the SDK client, and the scans."""
