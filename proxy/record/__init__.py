"""Recording: the record addon, session directories, the capture filter and the spending guard."""
