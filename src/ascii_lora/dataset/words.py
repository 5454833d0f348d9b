"""Real words for text panels and terminal screens (letters only: no glyph that doubles as a wall)."""

WORDS = tuple(
    """
    ancient archive armory ash bank barracks bell bone bridge cellar chamber chapel cistern
    citadel clock cold copper crypt crystal dark deep door dust east echo ember empty engine
    entry exit far field fire floor forge forgotten fountain gate glass gold great guard hall
    hidden hollow house iron keep key lamp last library light lock long lost low lower machine
    map market moon mine mirror north old open outer passage path pillar pit place quiet red
    river road room ruin rust salt sand secret shadow shaft silent silver small south spring
    stair star steam stone store street sunken temple throne tomb tower trap tunnel under upper
    vault wall warden watch water well west white wind window winter wood yard
    the of and to in is it on at by with from for into over under north level floor sector
    system status online offline ready error warning access granted denied loading complete
    memory disk file data user admin signal power core node link relay grid index report
    checking found missing opened closed sealed flooded collapsed marked unknown cleared
    """.split()
)

COMMANDS = ("ls", "cat", "cd", "run", "scan", "map", "open", "find", "load", "echo", "ping", "mount")
FILES = ("readme.txt", "map.dat", "level3.map", "notes.txt", "vault.log", "grid.txt", "tower.dat", "keys.db")
