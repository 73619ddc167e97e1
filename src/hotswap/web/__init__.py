"""HTTP plumbing shared by every slice's router: problems, middleware, dependencies."""
