"""People: profiles (display name, avatar), the directory search, and who is hidden from it.

model      Person
store      the PeopleStore protocol; memory and redis implement it
routes     GET /api/people?q=, GET and PUT /api/people/{user}
"""
