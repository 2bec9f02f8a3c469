"""The browser widget: static files served by screenpop at /widget/ and /agent."""
