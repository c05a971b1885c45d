export { DashboardState } from './state/dashboard-state.js';
