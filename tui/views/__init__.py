"""The five views the app's tabs hold; each gets the RunCache and posts tui.messages to ask for others."""
