"""Activity streams: what is published to the `activity` exchange. Today the admins' broadcast;
contexts, timelines, comments and likes come here, with their store and routes."""
