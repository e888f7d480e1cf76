"""Programs on the public API (the command line, the site generator, revisions, expectations);
nothing else in the engine imports them."""
