"""What every part of the local cloud stands on: state kept across restarts (`persistence`) and
the errors AWS answers (`errors`)."""
