-- One database per service (run once by the postgres image on an empty volume).
CREATE DATABASE jobbridge_intake;
CREATE DATABASE jobbridge_matching;
CREATE DATABASE jobbridge_placement;
CREATE DATABASE jobbridge_support;
CREATE DATABASE jobbridge_console;
