"""The targeting engine: conditions, hashing and bucketing. Pure; shared by server and SDK."""
