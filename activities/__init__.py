"""Every side effect the workflows need: database writes, SMS. Each is safe to run twice."""
