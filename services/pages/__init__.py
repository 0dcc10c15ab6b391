"""Pages for the people of a département and for the young person: server-rendered, calling the APIs."""
