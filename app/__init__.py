"""AI conversation history kept in Supabase: the API, the store and its transports."""
