from backends import SECRET
from hub_server import hub_fixture

# A hub with the default grants (a user reaches only their own names and conversations), on
# each backend in turn, with its worker.
guarded = hub_fixture(scope="session", permissions_file=None, worker=True, jwt_secret=SECRET)
