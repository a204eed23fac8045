"""Lambda: functions cannot run here (no runtime), so creating or invoking one is refused
(`refusals`)."""
