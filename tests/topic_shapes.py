"""Topic bindings of every shape, and what each must get of three messages while two of them
go: the same on the embedded broker, on RabbitMQ and in a node's fan-out."""

SHAPES = ("sport.*", "sport.#", "#.tennis", "*.tennis", "#", "weather", "sports.tennis")
BEFORE = [("sport.tennis", b"ace")]  # published while every binding is there
GONE = ("sport.#", "#")  # then these go
AFTER = [("sport.golf", b"putt"), ("weather", b"rain")]  # keys first seen after the change
EXPECTED = {
    "sport.*": [b"ace", b"putt"],
    "sport.#": [b"ace"],
    "#.tennis": [b"ace"],
    "*.tennis": [b"ace"],
    "#": [b"ace"],
    "weather": [b"rain"],
    "sports.tennis": [],
}
