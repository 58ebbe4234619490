INSERT INTO `keys` (`api_key`, `api_secret`) VALUES ('9MyYDCQgFOWppsbbc3vwQUPyKknXxohVcxVRwSwcJ2P6qAz09dggzu99FcNUEgkZ', '38BfnY70ToEpqnfj6f5l9E0oO1zhw5XzsQWrmBjPpvpwl75n9IHng3axcuPUn9dS');
/* the rest was commented out
INSERT INTO `keys` (`api_key`, `api_secret`) VALUES ('Yv13QlINU1hr26YXlg2oTZOG86U4ldYkZhEd0zq9GoTddeTGr9jjntj1OVBInAIC', 'Ir5YYNldGuDch5zYjcc5wgpS7RhX3WOZ0XzFvQHVBOW3OKyzC23ctCS3InZ1eex4');
